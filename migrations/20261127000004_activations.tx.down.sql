DROP TABLE activations;
