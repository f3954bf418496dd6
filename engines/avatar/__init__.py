"""Photo avatars: prepared bundles (bundle.py) and renderers behind one interface (base.py, registry.py); the CPU
mesh-warp renderer (renderer.py, warp_engine.py) makes them talk, blink and breathe."""
from engines.avatar.bundle import AvatarBundle, UnknownAvatar, list_avatars, load_avatar
from engines.avatar.catalog import AvatarCatalog
from engines.avatar.renderer import AvatarRenderer

__all__ = ["AvatarBundle", "AvatarCatalog", "AvatarRenderer", "UnknownAvatar", "list_avatars", "load_avatar"]
