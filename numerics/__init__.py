"""sgdnoise's numeric half: lambdified predictions, replica SGD, SDE ensembles, statistics and checks."""
