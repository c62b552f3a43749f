from django import forms

from newsletter import services


class SignupForm(forms.Form):
    email = forms.CharField(
        label="Email address",
        widget=forms.EmailInput(
            attrs={"autocomplete": "email", "placeholder": "you@example.com"}
        ),
    )
    source = forms.CharField(required=False, widget=forms.HiddenInput)
    # The honeypot: hidden from people (and screen readers), filled by bots.
    website = forms.CharField(required=False, label="Leave this field empty")

    def clean_email(self):
        return services.normalize_email(self.cleaned_data["email"])


class SubscriberImportForm(forms.Form):
    file = forms.FileField(
        help_text="A CSV file with an “email” column (or one address per line)."
    )
    confirmed = forms.BooleanField(
        required=False,
        label="Mark the addresses as confirmed",
        help_text="Only for people who gave their consent to receive the "
        "newsletter; say how in the consent note. Otherwise they stay pending "
        "and receive nothing.",
    )
    consent_note = forms.CharField(
        required=False,
        widget=forms.Textarea(attrs={"rows": 3}),
        help_text="How and when these people agreed to receive the newsletter.",
    )

    def clean(self):
        cleaned = super().clean()
        if cleaned.get("confirmed") and not cleaned.get("consent_note", "").strip():
            self.add_error(
                "consent_note",
                "Confirmed imports need a note on how consent was given.",
            )
        return cleaned


class ScheduleForm(forms.Form):
    send_at = forms.SplitDateTimeField(
        label="Send at",
        widget=forms.SplitDateTimeWidget(
            date_attrs={"type": "date"}, time_attrs={"type": "time"}
        ),
    )
