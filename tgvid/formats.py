"""Container formats that hold a still picture, by FFmpeg's demuxer names (as `container.format.name` lists them).

The transcoder hands such a file on as an image, the uploader's probe of a hand-placed file gives it an image's
sidecar; both by this one set."""

IMAGE_FORMATS = frozenset({"image2", "jpeg_pipe", "png_pipe", "webp_pipe", "bmp_pipe", "tiff_pipe", "heif"})
