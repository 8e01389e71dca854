from edgeus.cli import main

raise SystemExit(main())
