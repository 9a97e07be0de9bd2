"""Media: finding photo files and reading them into pixels.

``files`` walks folders and decodes photos, ``raw`` reads camera RAW files,
``twins`` pairs a RAW with its rendered JPEG/HEIC/TIFF.
"""
