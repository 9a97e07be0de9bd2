"""The scan: walk folders, analyse new or changed photos in workers (or on Ray), save each photo's faces."""
