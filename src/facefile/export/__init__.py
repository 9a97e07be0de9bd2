"""Export: one folder per person (``folders``) and XMP face regions in sidecars (``xmp``)."""
