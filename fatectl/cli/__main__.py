from fatectl.cli.main import main

main()
