"""Twin experiments, one file each with the scores expected of them (window problems, DAPPER's set-ups)."""
