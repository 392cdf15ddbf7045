"""`python -m my_app.cli` runs `myapp`."""

from my_app.cli import main

main()
