from atto_work.cli import main

raise SystemExit(main())
