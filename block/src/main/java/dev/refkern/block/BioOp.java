package dev.refkern.block;

/** {@code enum req_op}: what a bio asks of the device. */
public enum BioOp {
  /** {@code REQ_OP_READ}. */
  READ,
  /** {@code REQ_OP_WRITE}. */
  WRITE,
  /** {@code REQ_OP_FLUSH}: make every completed write durable. */
  FLUSH
}
