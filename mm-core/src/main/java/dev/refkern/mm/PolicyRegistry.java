package dev.refkern.mm;

import static org.apiguardian.api.API.Status.EXPERIMENTAL;

import dev.refkern.mm.spi.PolicyProvider;
import java.lang.reflect.Constructor;
import java.lang.reflect.InvocationTargetException;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.ServiceLoader;
import java.util.TreeMap;
import org.apiguardian.api.API;

/**
 * The kernel's {@code module_param()} table for policies: every dotted parameter ({@code
 * gup.pin_tracking}, {@code block.bio_pin_tracking}), the policies that answer it, and its mainline
 * default. {@link #global()} holds what {@link ServiceLoader} finds through {@link PolicyProvider}
 * plus what was {@link #register registered} explicitly; {@link BootParams} checks dotted keys
 * against it and a layer creates its policy with {@link #create} once, at boot.
 */
@API(status = EXPERIMENTAL, since = "0.1.0")
public final class PolicyRegistry {
  private static volatile PolicyRegistry global;

  /** param -> name -> class, names in registration order. */
  private final Map<String, Map<String, Class<?>>> byParam = new TreeMap<>();

  /** An empty registry (tests that want only their own policies). */
  public PolicyRegistry() {}

  /** A registry holding the policies of {@code providers}. */
  public static PolicyRegistry of(Iterable<? extends PolicyProvider> providers) {
    PolicyRegistry r = new PolicyRegistry();
    for (PolicyProvider p : providers) {
      for (Class<?> c : p.policies()) {
        r.register(c);
      }
    }
    return r;
  }

  /** The registry of every policy on the module path, loaded once; tests may add to it. */
  public static PolicyRegistry global() {
    PolicyRegistry r = global;
    if (r == null) {
      synchronized (PolicyRegistry.class) {
        r = global;
        if (r == null) {
          global = r = of(ServiceLoader.load(PolicyProvider.class));
        }
      }
    }
    return r;
  }

  /**
   * Adds a policy class; registering the same class again does nothing.
   *
   * @throws KernelException {@code EINVAL} for a class without {@link PolicySpec}, a second
   *     mainline policy for a parameter; {@code EEXIST} for another class with the same name
   */
  public synchronized void register(Class<?> policy) {
    PolicySpec s = policy.getAnnotation(PolicySpec.class);
    if (s == null) {
      throw new KernelException(Errno.EINVAL, policy.getName() + " carries no @PolicySpec");
    }
    Map<String, Class<?>> names = byParam.computeIfAbsent(s.param(), k -> new LinkedHashMap<>());
    Class<?> old = names.get(s.name());
    if (old == policy) {
      return;
    }
    if (old != null) {
      throw new KernelException(
          Errno.EEXIST, s.param() + "=" + s.name() + " is already " + old.getName());
    }
    if (s.mainline()) {
      for (Class<?> c : names.values()) {
        if (c.getAnnotation(PolicySpec.class).mainline()) {
          throw new KernelException(
              Errno.EINVAL,
              s.param() + ": " + s.name() + " and " + c.getName() + " both claim to be mainline");
        }
      }
    }
    names.put(s.name(), policy);
  }

  /** Every parameter, sorted. */
  public synchronized List<String> params() {
    return List.copyOf(byParam.keySet());
  }

  /** Whether {@code param} is a known parameter. */
  public synchronized boolean hasParam(String param) {
    return byParam.containsKey(param);
  }

  /**
   * The names of {@code param}'s policies, mainline's first, then in registration order.
   *
   * @throws KernelException {@code EINVAL} for an unknown parameter, listing the known ones
   */
  public synchronized List<String> names(String param) {
    List<String> out = new ArrayList<>();
    for (Map.Entry<String, Class<?>> e : classes(param).entrySet()) {
      if (e.getValue().getAnnotation(PolicySpec.class).mainline()) {
        out.add(0, e.getKey());
      } else {
        out.add(e.getKey());
      }
    }
    return List.copyOf(out);
  }

  /**
   * The name of {@code param}'s mainline policy, the default when the command line is silent (the
   * first registered when none claims mainline).
   */
  public synchronized String mainline(String param) {
    return names(param).get(0);
  }

  /** The {@link PolicySpec} of {@code param=name}; {@code EINVAL} if unknown. */
  public synchronized PolicySpec spec(String param, String name) {
    return policyClass(param, name).getAnnotation(PolicySpec.class);
  }

  /**
   * The class of {@code param=name}.
   *
   * @throws KernelException {@code EINVAL} for an unknown parameter or name, listing what exists
   */
  public synchronized Class<?> policyClass(String param, String name) {
    Class<?> c = classes(param).get(name);
    if (c == null) {
      throw new KernelException(
          Errno.EINVAL, param + "=" + name + ": choose one of " + names(param));
    }
    return c;
  }

  /**
   * Creates {@code param=name} through its public constructor taking {@code context} (the layer's
   * context object). Called once at boot: the hot paths keep the object it returns.
   *
   * @throws KernelException {@code EINVAL} for an unknown parameter or name, or a class that is not
   *     a {@code type} or has no such constructor
   */
  public <T> T create(Class<T> type, String param, String name, Object context) {
    Class<?> c = policyClass(param, name);
    if (!type.isAssignableFrom(c)) {
      throw new KernelException(Errno.EINVAL, c.getName() + " is not a " + type.getName());
    }
    for (Constructor<?> k : c.getConstructors()) {
      Class<?>[] p = k.getParameterTypes();
      if (p.length == 1 && p[0].isInstance(context)) {
        try {
          return type.cast(k.newInstance(context));
        } catch (InvocationTargetException e) {
          if (e.getCause() instanceof RuntimeException re) {
            throw re;
          }
          throw new KernelException(Errno.EINVAL, c.getName() + ": " + e.getCause());
        } catch (ReflectiveOperationException e) {
          throw new KernelException(Errno.EINVAL, c.getName() + ": " + e);
        }
      }
    }
    throw new KernelException(
        Errno.EINVAL,
        c.getName() + " has no public constructor taking " + context.getClass().getName());
  }

  /**
   * The policy chosen for {@code param} on {@code params}' command line (its mainline one when
   * absent), created with {@code context}.
   */
  public <T> T create(Class<T> type, String param, BootParams params, Object context) {
    return create(type, param, params.get(param, mainline(param)), context);
  }

  private Map<String, Class<?>> classes(String param) {
    Map<String, Class<?>> m = byParam.get(param);
    if (m == null) {
      throw new KernelException(
          Errno.EINVAL, "unknown parameter " + param + "=; known dotted keys: " + byParam.keySet());
    }
    return m;
  }
}
