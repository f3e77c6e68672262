"""File types FaceID Desktop reads, by name ending (lower case). No heavy imports, so the CLI starts fast."""

#: Photos (decoded by OpenCV, sized by Pillow first).
IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".webp", ".tif", ".tiff", ".pgm", ".ppm")
#: Videos (decoded by OpenCV's FFmpeg backend).
VIDEO_SUFFIXES = (".mp4", ".avi", ".webm", ".mov", ".mkv")
