/** Helpers of the fs scenarios, not for users. */
@API(status = INTERNAL, since = "0.1.0")
package dev.refkern.examples.fs.internal;

import static org.apiguardian.api.API.Status.INTERNAL;

import org.apiguardian.api.API;
