from ocikit.cli import main

main()
