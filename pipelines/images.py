"""Images by immutable reference: a content or version tag, or a digest; never ``:latest``, ``:dev`` or no tag.

KFP's cache key holds a step's image *reference* and its wrapper's source, not the code baked into the image:
with a moving tag, a resubmitted run after a rebuild reuses the outputs of the old code. So every compiled
template is checked (:func:`mutable_images`, over every ``image`` anywhere in it, whatever the arms and steps),
and environment files name images with ``{source_tag}``: the content tag of this checkout, ``src-`` and the
digest of the packages' files (:func:`pipelines.docker_run.source_digest`), which ``scripts/build_images.sh``
(via ``scripts/kfp_common.sh``) and ``cloudbuild.yaml`` tag the images with.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

#: Placeholder of an environment file's image: replaced by :func:`source_tag` when the pipeline is compiled.
SOURCE_TAG = "{source_tag}"
#: Tags that move: a rebuild pushes new code under the same name.
MOVING_TAGS = frozenset({"latest", "dev", "main", "master", "stable", "head"})
_DIGEST = re.compile(r"@sha256:[0-9a-f]{64}$")


class MutableImageError(ValueError):
    """A compiled template names an image by a moving reference; the message names it and the fix."""


def source_tag() -> str:
    """The content tag of this checkout's code: ``src-`` and 16 hex digits (same code, same tag)."""
    from pipelines.docker_run import source_digest

    return f"src-{source_digest()}"


def fill_source_tag(image: str, tag: str | None = None) -> str:
    """An environment file's image with ``{source_tag}`` replaced (by ``tag``, else :func:`source_tag`)."""
    return image.replace(SOURCE_TAG, tag or source_tag()) if SOURCE_TAG in image else image


def image_tag(image: str) -> str:
    """The tag of an image reference (``""`` without one; a digest reference returns ``@sha256:…``)."""
    digest = _DIGEST.search(image)
    if digest:
        return digest.group(0)
    last = image.rsplit("/", 1)[-1]  # a registry host may carry a port: host:5000/name
    return last.split(":", 1)[1] if ":" in last else ""


def is_immutable(image: str) -> bool:
    """A digest, or a tag that is not one of :data:`MOVING_TAGS` (and no unfilled placeholder)."""
    tag = image_tag(image)
    return bool(tag) and "{" not in image and tag.lower() not in MOVING_TAGS


def _images(node: Any) -> Iterator[str]:
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "image" and isinstance(value, str):
                yield value
            else:
                yield from _images(value)
    elif isinstance(node, list):
        for item in node:
            yield from _images(item)


def template_images(documents: list[Any]) -> list[str]:
    """Every ``image`` value of a compiled template's documents (pipeline spec and platform spec), once each."""
    return list(dict.fromkeys(image for document in documents for image in _images(document)))


def mutable_images(documents: list[Any]) -> list[str]:
    """The images of a compiled template that are not named by an immutable reference."""
    return [image for image in template_images(documents) if not is_immutable(image)]


def check_template_images(path: str) -> None:
    """Refuses a compiled template that names any image by a moving reference.

    Raises:
        MutableImageError: Naming the first such image and the fix.
    """
    import yaml

    with open(path, encoding="utf-8") as handle:
        documents = list(yaml.safe_load_all(handle))
    bad = mutable_images(documents)
    if bad:
        more = f" (and {len(bad) - 1} more)" if len(bad) > 1 else ""
        raise MutableImageError(
            f"image {bad[0]!r}{more} has no immutable tag: KFP's cache would reuse outputs of older code after a "
            "rebuild; name it by a content or version tag (the environment file's {source_tag}, e.g. "
            f"{bad[0].rsplit(':', 1)[0] if image_tag(bad[0]) else bad[0]}:{source_tag()}) or by its @sha256 digest"
        )
