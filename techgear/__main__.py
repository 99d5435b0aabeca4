from techgear.cli import main

main()
