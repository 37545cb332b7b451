from edgepbx.cli import main

raise SystemExit(main())
