from router.cli.main import main

# Guarded: `serve --workers N` starts its processes with multiprocessing's spawn, which imports this module again.
if __name__ == "__main__":
    main()
