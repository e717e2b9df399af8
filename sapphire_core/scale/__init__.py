"""Scale-out: the same plugins run on Ray, and a server vector store for catalogues beyond one machine."""
