// placeholder test file.
