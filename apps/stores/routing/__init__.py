"""The public-schema registry of which workspace holds a platform's shop (``StoreRoute``): what the
app-level callbacks on the public host (``apps.stores.public_views``) route by."""
