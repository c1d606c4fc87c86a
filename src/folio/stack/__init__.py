"""Running folio locally: the three-process stack and a traffic generator."""
