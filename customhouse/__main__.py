from customhouse.cli import main

main()
