"""Media: finding photo files and reading them into pixels.

``files`` walks folders and decodes photos (``pillow`` for every format but
RAW, ``raw`` for camera RAW files through LibRaw), ``twins`` pairs a RAW with
its rendered JPEG/HEIC/TIFF. ``capture`` takes what decoders print while they
work and ``containers`` reads file structures (HEIF boxes, a TIFF's first
directory), so that each damaged file gets one line with its real cause.
"""
