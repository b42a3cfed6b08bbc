"""Running commentd: the command line, the server, migrations, backups, start-up checks."""
