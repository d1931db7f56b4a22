"""One coroutine per CLI verb: ``(args, settings) -> exit code``, each in its own module
(``bot.__main__`` imports a verb's module only when that verb runs)."""
