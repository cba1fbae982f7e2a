import sys

from chatlens.cli import main

sys.exit(main())
