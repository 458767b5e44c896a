"""The operators' dashboard under ``/ui``: server-rendered pages over the admin API's own operations, called
in-process with the signed-in key, so a page can do nothing that key could not do with curl."""
