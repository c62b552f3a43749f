"""A responsive, accessible ``<picture>`` for a ``Photo``: what the
``picture()`` macro of ``includes/picture.html`` shows."""

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
    url = photo.image.storage.url
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


def _srcset(renditions, url):
    return ", ".join(f"{url(r['name'])} {r['width']}w" for r in renditions)
