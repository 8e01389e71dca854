"""Upper bounds that profiles (contracts/profiles.py) and command-line options (cli/args.py) share: one number
and one reason each. No pydantic here: the vendor runtime's command line imports it."""

MAX_THREADS = (1024, "more threads than any edge device has cores")
MAX_FPS = (10_000, "no ultrasound stream is that fast")
