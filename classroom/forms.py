from __future__ import annotations

from django import forms

from classroom.services import MAX_CSV_BYTES
from lessons.models import Course


class CohortForm(forms.Form):
    course = forms.ModelChoiceField(queryset=Course.objects.filter(published=True))
    name = forms.CharField(max_length=120, strip=True)

    def clean_name(self) -> str:
        name = self.cleaned_data["name"]
        if len(name) < 3:
            raise forms.ValidationError("Give the cohort a name of at least 3 characters.")
        return name


class EnrolForm(forms.Form):
    file = forms.FileField(help_text="CSV, one username or e-mail per row, up to 1 MB.")

    def clean_file(self):
        f = self.cleaned_data["file"]
        if f.size > MAX_CSV_BYTES:
            raise forms.ValidationError("The file is larger than 1 MB.")
        return f


class InstructorForm(forms.Form):
    username = forms.CharField(max_length=150, strip=True)


class AccommodationForm(forms.Form):
    time_multiplier = forms.FloatField(min_value=1.0, max_value=5.0)
    extra_attempts = forms.IntegerField(min_value=0, max_value=20)
    note = forms.CharField(max_length=200, required=False)
