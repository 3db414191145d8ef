package dev.refkern.block;

import static org.apiguardian.api.API.Status.STABLE;

import org.apiguardian.api.API;

/** {@code enum req_op}: what a bio asks of the device. */
@API(status = STABLE, since = "0.1.0")
public enum BioOp {
  /** {@code REQ_OP_READ}. */
  READ,
  /** {@code REQ_OP_WRITE}. */
  WRITE,
  /** {@code REQ_OP_FLUSH}: make every completed write durable. */
  FLUSH
}
