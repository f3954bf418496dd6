"""Photo avatars: prepared bundles on disk and a renderer that makes them talk, blink and breathe."""
from engines.avatar.bundle import AvatarBundle, UnknownAvatar, list_avatars, load_avatar
from engines.avatar.renderer import AvatarRenderer

__all__ = ["AvatarBundle", "AvatarRenderer", "UnknownAvatar", "list_avatars", "load_avatar"]
