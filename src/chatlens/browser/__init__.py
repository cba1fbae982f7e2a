"""The browser SDK: `chatlens.js` (readable source) and `chatlens.min.js` (served at /sdk.js)."""

from pathlib import Path

SOURCE = Path(__file__).with_name("chatlens.js")
MINIFIED = Path(__file__).with_name("chatlens.min.js")
