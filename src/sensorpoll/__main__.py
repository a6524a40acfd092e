from sensorpoll.cli import main

raise SystemExit(main())
