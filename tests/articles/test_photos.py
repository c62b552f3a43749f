import io
import re
import struct
import zlib

import pytest
from django.core.exceptions import ValidationError
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.core.files.uploadedfile import SimpleUploadedFile
from django.template import engines
from PIL import Image, ImageCms
from PIL.PngImagePlugin import PngInfo

from articles import images
from articles.forms import PhotoForm
from articles.images import create_photo, make_renditions, normalize_upload
from articles.models import Photo
from tests.factories import make_article

pytestmark = pytest.mark.django_db

ORIENTATION = 0x0112
GPS_IFD = 0x8825
XSS_ALT = '"><script>alert(1)</script>'


@pytest.fixture(autouse=True)
def media_root(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path
    return tmp_path


# Building test files ---------------------------------------------------------


def two_colour(size=(40, 20), mode="RGB"):
    """Left half red, right half blue: shows which way up a picture is."""
    image = Image.new(mode, size, "blue")
    image.paste("red", (0, 0, size[0] // 2, size[1]))
    return image


def encode(image, fmt, **options):
    buffer = io.BytesIO()
    image.save(buffer, fmt, **options)
    return buffer.getvalue()


def exif_with_gps(orientation=None):
    exif = Image.Exif()
    if orientation:
        exif[ORIENTATION] = orientation
    exif[0x010F] = "SecretCam"  # Make
    gps = exif.get_ifd(GPS_IFD)
    gps[1] = "N"
    gps[2] = (51.0, 30.0, 26.0)
    gps[3] = "W"
    gps[4] = (0.0, 7.0, 39.0)
    return exif


def noisy_jpeg(size=(64, 64)):
    """A JPEG of about 8 KB whose pixel data cannot be guessed."""
    return encode(Image.effect_noise(size, 64).convert("RGB"), "JPEG", quality=95)


def png_chunk(kind, data):
    body = kind + data
    return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))


def bilevel_png(width, height, *, pixel_data=True):
    """A 1-bit black PNG of any size, built by hand so that it stays tiny.

    With ``pixel_data`` the image is complete and valid (9000 × 9000 is about
    10 KB); without, only the header is real, enough for a size check.
    """
    ihdr = struct.pack(">IIBBBBB", width, height, 1, 0, 0, 0, 0)
    if pixel_data:
        row = b"\0" * (1 + (width + 7) // 8)  # filter byte, then 8 pixels a byte
        idat = zlib.compress(row * height, 9)
    else:
        idat = zlib.compress(b"\0" * 64)
    return (
        b"\x89PNG\r\n\x1a\n"
        + png_chunk(b"IHDR", ihdr)
        + png_chunk(b"IDAT", idat)
        + png_chunk(b"IEND", b"")
    )


def upload(content, name="photo.jpg", content_type="image/jpeg"):
    return SimpleUploadedFile(name, content, content_type=content_type)


def photo_form(image_upload=None, instance=None, **data):
    fields = {
        "alt_text": "A photo",
        "caption": "",
        "credit": "",
        "focal_x": "0.5",
        "focal_y": "0.5",
        **data,
    }
    files = {"image": image_upload} if image_upload else {}
    return PhotoForm(data=fields, files=files, instance=instance)


def stored(name):
    with default_storage.open(name, "rb") as file:
        return file.read()


def new_photo(image=None, fmt="JPEG", name="photo.jpg", **fields):
    content = encode(image or two_colour((700, 350)), fmt)
    fields.setdefault("alt_text", "Crowds on the seafront")
    return create_photo(image_file=upload(content, name), **fields)


# Cleaning uploads ------------------------------------------------------------


def test_jpeg_orientation_applied_and_all_metadata_removed():
    """A phone JPEG is stored upright with no EXIF, GPS, XMP, comment or ICC."""
    profile = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
    source = encode(
        two_colour((40, 20)),
        "JPEG",
        exif=exif_with_gps(orientation=6),
        xmp=b"<x:xmpmeta>secret-xmp</x:xmpmeta>",
        comment=b"secret-comment",
        icc_profile=profile,
    )
    assert Image.open(io.BytesIO(source)).getexif().get_ifd(GPS_IFD)  # sanity

    photo = create_photo(image_file=upload(source), alt_text="Pier at dawn")

    data = stored(photo.image.name)
    with Image.open(io.BytesIO(data)) as image:
        assert image.format == "JPEG"
        assert image.size == (20, 40)
        assert not image.getexif()
        assert not {"exif", "xmp", "comment", "icc_profile"} & image.info.keys()
        image = image.convert("RGB")
        # Orientation 6 is a quarter turn clockwise: the left (red) half is
        # now on top.
        red, green, blue = image.getpixel((10, 5))
        assert red > 200 and blue < 60
        red, green, blue = image.getpixel((10, 35))
        assert blue > 200 and red < 60
    assert (photo.width, photo.height) == (20, 40)
    for secret in (b"Exif", b"SecretCam", b"secret-xmp", b"secret-comment"):
        assert secret not in data


def test_png_text_chunks_removed():
    """PNG text (tEXt, zTXt, iTXt) and eXIf chunks do not survive the upload."""
    info = PngInfo()
    info.add_text("Author", "secret-text")
    info.add_text("Comment", "secret-ztxt", zip=True)
    info.add_itxt("Description", "secret-itxt")
    source = encode(two_colour(), "PNG", pnginfo=info, exif=exif_with_gps())

    cleaned = normalize_upload(upload(source, "graphic.png", "image/png"))

    data = cleaned.read()
    assert cleaned.name.endswith(".png")
    with Image.open(io.BytesIO(data)) as image:
        assert image.format == "PNG"
        assert image.text == {}
        assert not image.getexif()
    for marker in (b"tEXt", b"zTXt", b"iTXt", b"eXIf", b"secret", b"SecretCam"):
        assert marker not in data


def test_image_with_html_appended_is_stored_without_it():
    """An image that decodes fully is re-encoded, dropping any trailing payload."""
    source = encode(two_colour(), "JPEG") + b"<html><script>alert(1)</script>"

    cleaned = normalize_upload(upload(source))

    data = cleaned.read()
    assert b"<script" not in data
    assert Image.open(io.BytesIO(data)).format == "JPEG"


@pytest.mark.parametrize(
    ("width", "height", "message"),
    [
        # A real, complete image: 81 megapixels in about 10 KB.
        (9000, 9000, "This image is 9000 × 9000 pixels"),
        # Pillow warns above 89 megapixels; as an error it is caught too.
        pytest.param(
            12000,
            12000,
            "This image is far too large",
            marks=pytest.mark.filterwarnings(
                "error::PIL.Image.DecompressionBombWarning"
            ),
        ),
        # Pillow refuses outright above 179 megapixels.
        (100_000, 100_000, "This image is far too large"),
    ],
)
def test_decompression_bomb_is_a_form_error(width, height, message):
    """A small file claiming a huge picture is refused before it is decoded."""
    content = bilevel_png(width, height, pixel_data=width * height < 10**8)
    assert len(content) < 20_000

    form = photo_form(upload(content, "bomb.png", "image/png"))

    assert not form.is_valid()
    (error,) = form.errors["image"]
    assert error.startswith(message)
    assert "at most 40 megapixels" in error


INVALID = "Upload a photo in JPEG, PNG or WebP format."
DAMAGED = "This image could not be read completely"


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        (
            "logo.svg",
            b'<svg xmlns="http://www.w3.org/2000/svg" onload="alert(1)"/>',
            INVALID,
        ),
        ("photo.jpg", b"<!doctype html><script>alert(1)</script>", INVALID),
        (
            "polyglot.jpg",
            b"\xff\xd8\xff\xe0\x00\x10JFIF\x00\x01\x01\x00\x00\x01\x00\x01\x00\x00"
            b"<html><script>alert(1)</script></html>",
            INVALID,
        ),
        ("truncated.jpg", noisy_jpeg()[:3000], DAMAGED),
        ("animation.gif", encode(two_colour(), "GIF"), INVALID),
        ("photo.bmp", encode(two_colour(), "BMP"), INVALID),
    ],
)
def test_files_that_are_not_accepted_images_are_refused(name, content, message):
    """Non-images, other formats and damaged images are form errors."""
    form = photo_form(upload(content, name))

    assert not form.is_valid()
    (error,) = form.errors["image"]
    assert error.startswith(message)


def test_file_over_the_size_limit_is_refused_unread(monkeypatch):
    """A file over 20 MB is refused on its size alone."""

    def must_not_open(*args, **kwargs):
        raise AssertionError("opened a file that was too large")

    monkeypatch.setattr(images.Image, "open", must_not_open)
    content = b"\xff\xd8" + b"\0" * images.MAX_UPLOAD_BYTES

    form = photo_form(upload(content, "huge.jpg"))

    assert not form.is_valid()
    assert form.errors["image"] == [
        "This file is larger than 20 MB, the limit for photos. "
        "Export it at a smaller size or higher compression."
    ]


# The admin form --------------------------------------------------------------


def test_form_cleaned_image_is_the_normalized_file():
    """cleaned_data["image"] is the cleaned ContentFile, which saving stores."""
    source = encode(two_colour(), "JPEG", exif=exif_with_gps(orientation=6))
    form = photo_form(upload(source, "IMG_0001.jpg"))

    assert form.is_valid(), form.errors
    cleaned = form.cleaned_data["image"]
    assert isinstance(cleaned, ContentFile)
    photo = form.save()
    make_renditions(photo)

    assert (photo.width, photo.height) == (20, 40)
    assert not Image.open(io.BytesIO(stored(photo.image.name))).getexif()
    assert photo.renditions


def test_form_leaves_an_unchanged_image_alone(monkeypatch):
    """Editing a photo's caption does not reprocess its stored image."""
    photo = new_photo()
    monkeypatch.setattr(images, "normalize_upload", pytest.fail)

    form = photo_form(instance=photo, caption="New caption")

    assert form.is_valid(), form.errors
    assert form.cleaned_data["image"] == photo.image
    assert form.save().image.name == photo.image.name


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("focal_x", "1.5", "from 0 (left edge) to 1 (right edge)"),
        ("focal_x", "-0.1", "from 0 (left edge) to 1 (right edge)"),
        ("focal_y", "2", "from 0 (top edge) to 1 (bottom edge)"),
    ],
)
def test_focal_point_outside_0_to_1_is_refused(field, value, message):
    """A focal point outside the photo is a clear field error."""
    form = photo_form(upload(encode(two_colour(), "JPEG")), **{field: value})

    assert not form.is_valid()
    (error,) = form.errors[field]
    assert message in error
    assert "__all__" not in form.errors


# Storage and renditions ------------------------------------------------------


def test_stored_name_is_generated():
    """The uploader's file name never reaches storage; the format's does."""
    photo = new_photo(name="Mayor GPS home-address.JPG")
    png = new_photo(two_colour(), "PNG", name="actually-a-png.jpg")

    assert re.fullmatch(r"photos/\d{4}/\d{2}/[0-9a-f]{32}\.jpg", photo.image.name)
    assert re.fullmatch(r"photos/\d{4}/\d{2}/[0-9a-f]{32}\.png", png.image.name)


def test_renditions_in_webp_and_jpeg_never_wider_than_the_original():
    """A 700 px photo gets 320 and 640 px renditions, stored and recorded."""
    photo = new_photo(two_colour((700, 350)))
    stem = photo.image.name.rsplit("/", 1)[1].removesuffix(".jpg")

    photo.refresh_from_db()
    assert sorted((r["width"], r["format"]) for r in photo.renditions) == [
        (320, "jpeg"),
        (320, "webp"),
        (640, "jpeg"),
        (640, "webp"),
    ]
    for rendition in photo.renditions:
        extension = {"jpeg": "jpg", "webp": "webp"}[rendition["format"]]
        assert rendition["name"] == (
            f"photos/renditions/{stem}-{rendition['width']}.{extension}"
        )
        with Image.open(io.BytesIO(stored(rendition["name"]))) as image:
            assert image.format == rendition["format"].upper()
            assert image.size == (rendition["width"], rendition["height"])
        assert rendition["height"] == rendition["width"] // 2


def test_small_photo_gets_one_rendition_at_its_own_width():
    """A photo narrower than the smallest width is not upscaled."""
    photo = new_photo(two_colour((200, 100)))

    assert {(r["width"], r["height"]) for r in photo.renditions} == {(200, 100)}
    assert {r["format"] for r in photo.renditions} == {"webp", "jpeg"}


def test_jpeg_rendition_of_transparent_png_is_flattened_on_white():
    """Transparency stays in WebP and turns white, not black, in JPEG."""
    photo = new_photo(Image.new("RGBA", (400, 200), (255, 0, 0, 0)), "PNG")

    for rendition in photo.renditions:
        with Image.open(io.BytesIO(stored(rendition["name"]))) as image:
            if rendition["format"] == "jpeg":
                assert image.mode == "RGB"
                assert min(image.getpixel((10, 10))) > 245
            else:
                assert image.mode == "RGBA"
                assert image.getpixel((10, 10))[3] == 0


def test_remaking_renditions_deletes_the_old_files_after_commit(
    django_capture_on_commit_callbacks,
):
    """Renditions replaced by new ones leave no files behind."""
    photo = new_photo()
    old = [r["name"] for r in photo.renditions]

    with django_capture_on_commit_callbacks(execute=True):
        make_renditions(photo)

    assert not any(default_storage.exists(name) for name in old)
    assert all(default_storage.exists(r["name"]) for r in photo.renditions)


def test_failed_create_photo_leaves_no_row_and_no_files(monkeypatch, media_root):
    """If renditions fail, the photo is not created and its files are removed."""

    def broken(*args):
        raise OSError("disk full")

    monkeypatch.setattr(images, "_rendition_widths", broken)

    with pytest.raises(OSError, match="disk full"):
        new_photo()

    assert not Photo.objects.exists()
    assert not [path for path in media_root.rglob("*") if path.is_file()]


def test_a_rendition_failing_midway_leaves_the_old_ones_and_no_new_files(
    monkeypatch, media_root
):
    """Renditions are made in parallel: when one width fails after others
    were written, the new files go and the photo keeps its renditions."""
    photo = new_photo(two_colour((1400, 700)))
    before = list(photo.renditions)
    files_before = {path for path in media_root.rglob("*") if path.is_file()}
    encode_rendition = images._encode_rendition

    def failing_at_960(source, size, has_alpha):
        if size[0] == 960:
            raise OSError("encoder crashed")
        return encode_rendition(source, size, has_alpha)

    monkeypatch.setattr(images, "_encode_rendition", failing_at_960)

    with pytest.raises(OSError, match="encoder crashed"):
        make_renditions(photo)

    assert photo.renditions == before
    photo.refresh_from_db()
    assert photo.renditions == before
    assert {path for path in media_root.rglob("*") if path.is_file()} == files_before


def test_create_photo_requires_alt_text():
    """A photo without alt text is refused before anything is stored."""
    with pytest.raises(ValidationError) as raised:
        new_photo(alt_text="")

    assert "alt_text" in raised.value.message_dict
    assert not Photo.objects.exists()


# The picture() macro of the public site's templates --------------------------


def render(source, **context):
    template = '{% from "includes/picture.html" import picture %}' + source
    return engines["jinja2"].from_string(template).render(context)


def test_picture_tag_is_responsive_escaped_and_runs_no_query(
    django_assert_num_queries,
):
    """WebP and JPEG srcsets, sizes, dimensions, lazy loading, escaped alt."""
    new_photo(two_colour((700, 350)), alt_text=XSS_ALT)
    photo = Photo.objects.get()

    with django_assert_num_queries(0):
        html = render(
            '{{ picture(photo, sizes="(min-width: 40rem) 40rem, 100vw") }}',
            photo=photo,
        )

    renditions = {(r["format"], r["width"]): r["name"] for r in photo.renditions}
    webp = ", ".join(
        f"/media/{renditions['webp', width]} {width}w" for width in (320, 640)
    )
    jpeg = ", ".join(
        f"/media/{renditions['jpeg', width]} {width}w" for width in (320, 640)
    )
    assert f'<source type="image/webp" srcset="{webp}"' in html
    assert f'src="/media/{renditions["jpeg", 640]}" srcset="{jpeg}"' in html
    assert html.count('sizes="(min-width: 40rem) 40rem, 100vw"') == 2
    assert 'width="640" height="320"' in html
    assert 'loading="lazy" decoding="async"' in html
    assert "fetchpriority" not in html
    assert 'alt="&#34;&gt;&lt;script&gt;alert(1)&lt;/script&gt;"' in html
    assert "<script" not in html


def test_picture_tag_eager_for_the_lead_photo():
    """loading="eager" asks for the image first, with high priority."""
    photo = new_photo()

    html = render(
        '{{ picture(photo, loading="eager", css_class="lead") }}', photo=photo
    )

    assert 'class="lead" loading="eager" fetchpriority="high">' in html
    assert "lazy" not in html


def test_picture_tag_falls_back_to_the_original_without_renditions():
    """A photo whose renditions are not made yet shows its original image."""
    photo = new_photo(two_colour((700, 350)))
    photo.renditions = []

    html = render("{{ picture(photo) }}", photo=photo)

    assert "<source" not in html
    assert "srcset" not in html
    assert f'<img src="/media/{photo.image.name}" width="700" height="350"' in html


def test_picture_tag_renders_nothing_for_no_photo():
    """An article without a lead photo renders no empty <picture>."""
    assert render("{{ picture(photo) }}", photo=None).strip() == ""


def test_picture_tag_follows_the_media_address(settings):
    """Rendition addresses are remembered per process, but never across a
    change of MEDIA_URL (a CDN in front of the media, say)."""
    photo = new_photo(two_colour((700, 350)))
    name = next(r["name"] for r in photo.renditions if r["format"] == "jpeg")
    assert f"/media/{name} " in render("{{ picture(photo) }}", photo=photo)
    settings.MEDIA_URL = "https://media.example/"
    html = render("{{ picture(photo) }}", photo=photo)
    assert f"https://media.example/{name} " in html
    assert "/media/" not in html


def test_a_remembered_photo_is_the_storys_own_and_shows_its_edits(
    client, django_capture_on_commit_callbacks
):
    """A story page's photo is rendered once per process and remembered by
    the photo as loaded (newsroom.jinja2.picture_key()): stories sharing a
    photo show the same markup, another photo is never shown in its place,
    and an edited photo shows its edit."""
    flood = new_photo(two_colour((700, 350)), alt_text="A flooded street")
    shared = [make_article(lead_photo=flood) for _ in range(2)]
    other = make_article(lead_photo=new_photo(alt_text="A dry riverbed"))

    def lead_picture(article):
        page = client.get(article.get_absolute_url()).content.decode()
        figure = page.split('<figure class="lead-photo">')[1]
        return figure[figure.index("<picture>") : figure.index("</picture>")]

    shown = lead_picture(shared[0])
    assert 'alt="A flooded street"' in shown
    assert lead_picture(shared[1]) == shown
    assert 'alt="A dry riverbed"' in lead_picture(other)

    with django_capture_on_commit_callbacks(execute=True):
        flood.alt_text = "A street after the flood"
        flood.save()

    edited = lead_picture(shared[1])
    assert 'alt="A street after the flood"' in edited
    assert edited.replace("A street after the flood", "A flooded street") == shown
