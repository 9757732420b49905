"""``python3 -m sandbox_executor``: the session container's main process."""

from sandbox_executor.agent import main

raise SystemExit(main())
