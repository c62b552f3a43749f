from django import forms
from django.core.exceptions import ValidationError

from articles import images
from articles.models import Photo

FOCAL_POINT_ERROR = (
    "The focal point is a fraction of the photo's %(side)s, from 0 (%(start)s "
    "edge) to 1 (%(end)s edge); 0.5 is the middle."
)


class PhotoForm(forms.ModelForm):
    """The admin's photo form.

    A newly uploaded image is validated and cleaned by
    ``images.normalize_upload``: after ``is_valid()``,
    ``form.cleaned_data["image"]`` is the cleaned ``ContentFile`` (same
    format, EXIF orientation applied, all metadata removed), and saving the
    form stores that file, never the upload as sent. An unchanged existing
    image is left as it is.

    The form does not make renditions: after saving, when
    ``"image" in form.changed_data``, the caller runs
    ``images.make_renditions(photo)`` (the admin's ``save_model`` does).
    """

    class Meta:
        model = Photo
        fields = ["image", "alt_text", "caption", "credit", "focal_x", "focal_y"]
        # A plain file field: forms.ImageField would open the upload with
        # every Pillow decoder and check the extension; normalize_upload
        # decides on the content alone, with messages that say what to do.
        field_classes = {"image": forms.FileField}

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        # Only narrows the browser's file picker; the server decides.
        self.fields["image"].widget.attrs["accept"] = "image/jpeg,image/png,image/webp"
        for name in ("focal_x", "focal_y"):
            self.fields[name].widget.attrs.update(min=0, max=1, step=0.01)

    def clean_image(self):
        image = self.cleaned_data["image"]
        if "image" not in self.changed_data:
            return image
        # Its ValidationError becomes the field's error, shown next to it.
        return images.normalize_upload(image)

    def clean_focal_x(self):
        return self._clean_focal("focal_x", side="width", start="left", end="right")

    def clean_focal_y(self):
        return self._clean_focal("focal_y", side="height", start="top", end="bottom")

    def _clean_focal(self, name, **params):
        value = self.cleaned_data[name]
        if value is not None and not 0 <= value <= 1:
            raise ValidationError(FOCAL_POINT_ERROR, code="focal_point", params=params)
        return value
