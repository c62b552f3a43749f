import pytest

from tests.factories import make_photo

pytestmark = pytest.mark.django_db


def test_media_is_served_with_its_type_and_nosniff(client, settings, tmp_path):
    """A stored photo comes back as an image, and browsers may not sniff it."""
    settings.MEDIA_ROOT = tmp_path
    photo = make_photo()
    response = client.get(photo.image.url)
    assert response.status_code == 200
    assert response["Content-Type"] == "image/jpeg"
    assert response["X-Content-Type-Options"] == "nosniff"
    rendition = next(r for r in photo.renditions if r["format"] == "webp")
    response = client.get(photo.image.storage.url(rendition["name"]))
    assert response["Content-Type"] == "image/webp"


def test_media_path_traversal_is_refused(client, settings, tmp_path):
    """../ in a media URL never reaches files outside the media folder."""
    settings.MEDIA_ROOT = tmp_path / "media"
    (tmp_path / "secret.txt").write_text("secret")
    for path in [
        "/media/../secret.txt",
        "/media/%2e%2e/secret.txt",
        "/media/..%2fsecret.txt",
    ]:
        response = client.get(path)
        assert response.status_code in (400, 404)
        assert b"secret" not in b"".join(getattr(response, "streaming_content", [b""]))
