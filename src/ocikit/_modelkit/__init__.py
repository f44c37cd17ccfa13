"""What a ModelKit is inside a storage, in both formats we read: the KitOps manifest+config and the
CNCF ModelPack layout (media types, conversion of its config into a Kitfile view).

May import ``_store`` and below; never the registry directly.
"""
