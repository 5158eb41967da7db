from kubenetlab.cli import main

raise SystemExit(main())
