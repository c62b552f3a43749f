"""A responsive, accessible ``<picture>`` for a ``Photo``: what the
``picture()`` macro of ``includes/picture.html`` shows."""

import functools

from django.core.files.storage import FileSystemStorage

LOADING_VALUES = ("lazy", "eager")


def picture_context(photo, sizes="100vw", loading="lazy", css_class=""):
    """``photo`` as WebP with JPEG fallback, at the widths it has.

    Usage, in a template::

        {% from "includes/picture.html" import picture %}
        {{ picture(photo, sizes="(min-width: 60rem) 60rem, 100vw", loading="eager") }}

    ``sizes`` tells the browser how wide the image will be shown, so that it
    downloads the smallest rendition that is sharp enough. ``loading="eager"``
    is for the one photo above the fold (it is also fetched with high
    priority); every other photo loads lazily. Renders nothing for a missing
    photo. Runs no query: the renditions are stored on the photo's row.
    """
    if loading not in LOADING_VALUES:
        raise ValueError(
            f"picture: loading must be 'lazy' or 'eager', not {loading!r}."
        )
    context = {
        "photo": photo,
        "sizes": sizes,
        "loading": loading,
        "css_class": css_class,
    }
    if not photo:
        return context
    url = media_url_maker(photo.image.storage)
    by_format = {"webp": [], "jpeg": []}
    for rendition in sorted(photo.renditions or [], key=lambda r: r["width"]):
        by_format.get(rendition["format"], []).append(rendition)
    jpegs = by_format["jpeg"]
    if jpegs:
        # The largest rendition has the photo's proportions; width and height
        # let the browser reserve the space before the image arrives.
        largest = jpegs[-1]
        src, width, height = url(largest["name"]), largest["width"], largest["height"]
    else:
        # Renditions not made yet: the original still shows.
        src, width, height = photo.image.url, photo.width, photo.height
    context.update(
        {
            "src": src,
            "width": width,
            "height": height,
            "alt": photo.alt_text,
            "webp_srcset": _srcset(by_format["webp"], url),
            "jpeg_srcset": _srcset(jpegs, url),
        }
    )
    return context


def photo_values(photo):
    """``photo``'s row as loaded with its story (``loaded_values``, see
    ``articles.loading.load_stories()``), by which what is made of it (its
    ``<picture>``, its addresses) can be remembered: an edited photo is a new
    row. None for a photo loaded otherwise, or whose files' addresses expire
    (``has_lasting_urls()``)."""
    values = getattr(photo, "loaded_values", None)
    if values is None or not photo_addresses_last():
        return None
    return values


def photo_addresses_last():
    """Whether the photos' files keep their addresses: the storage of the
    photo field (``photo.image.storage``) has lasting URLs."""
    return has_lasting_urls(_image_field().storage)


@functools.cache
def _image_field():
    # Read from the field, not made into a file for each photo.
    from articles.models import Photo

    return Photo._meta.get_field("image")


def _srcset(renditions, url):
    return ", ".join(f"{url(r['name'])} {r['width']}w" for r in renditions)


def media_url(storage, name):
    """``storage.url(name)``, remembered per process for files on local disk.

    A story page links a dozen renditions, the front page five times more,
    and ``FileSystemStorage.url()`` quotes and joins each of them every time.
    Other storages are asked every time: S3's addresses, for one, are signed
    and expire.
    """
    return media_url_maker(storage)(name)


def media_url_maker(storage):
    """``url(name)``: ``media_url(storage, name)`` for the files of one photo.

    The default storage is a lazy object, whose every attribute costs a
    proxy call: it is asked once per photo, not once per rendition.
    """
    if has_lasting_urls(storage):
        return functools.partial(_local_url, storage.base_url)
    return storage.url


def has_lasting_urls(storage):
    """Whether a file's address in ``storage`` stays the same: on local disk
    it does; S3's, for one, are signed and expire."""
    return storage.__class__.url is FileSystemStorage.url


@functools.lru_cache(maxsize=8192)
def _local_url(base_url, name):
    return _local_storage(base_url).url(name)


@functools.lru_cache(maxsize=8)
def _local_storage(base_url):
    # One per address: each new storage connects a setting_changed receiver,
    # and a crawler walking the archive misses _local_url() on every photo.
    return FileSystemStorage(base_url=base_url)
