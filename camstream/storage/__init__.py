"""Everything about files on disk: names (layout), atomic replacement (atomic), chunk/snapshot watchers and
partial recovery (watchers), retention, export, and the fragmented-MP4 reader (mp4frag).

Submodules are imported where needed; this package imports nothing itself, so `camstream.storage.layout` stays
cheap for the config model and the output plug-ins.
"""
