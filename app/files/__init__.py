"""Files attached to chat messages: content-addressed blobs, the attachment rows, serving."""
