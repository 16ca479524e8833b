"""Cross-cutting helpers every layer may use: value checks (``checks``), registries of kinds and of user
names (``kinds``, ``registry``), atomic file writes (``atomic``), checksummed netCDF bytes (``netcdf``), the
data folder (``paths``), named seed streams (``seeds``). Import the module you need: this package imports
none of them, so the command line's quick commands load no torch."""
