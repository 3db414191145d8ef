package dev.refkern.mm;

import static org.apiguardian.api.API.Status.EXPERIMENTAL;

import dagger.Module;
import dagger.Provides;
import dagger.multibindings.ElementsIntoSet;
import dev.refkern.mm.spi.PolicyProvider;
import jakarta.inject.Singleton;
import java.util.LinkedHashSet;
import java.util.ServiceLoader;
import java.util.Set;
import org.apiguardian.api.API;

/**
 * The Dagger bridge of the policy registry (the kernel's {@code module_param()} table): the {@link
 * PolicyProvider}s that {@link ServiceLoader} finds on the module path join a {@code
 * Set<PolicyProvider>} multibinding, to which an application's own module may add more
 * ({@code @Provides @IntoSet PolicyProvider}); the component's {@link PolicyRegistry} holds them
 * all.
 */
@Module
@API(status = EXPERIMENTAL, since = "0.1.0")
public final class PolicyModule {
  private PolicyModule() {}

  /** What {@link ServiceLoader} finds: every module's (and user jar's) {@code provides}. */
  @Provides
  @ElementsIntoSet
  static Set<PolicyProvider> serviceLoaded() {
    Set<PolicyProvider> out = new LinkedHashSet<>();
    ServiceLoader.load(PolicyProvider.class).forEach(out::add);
    return out;
  }

  /** The registry of every contributed policy. */
  @Provides
  @Singleton
  static PolicyRegistry registry(Set<PolicyProvider> providers) {
    return PolicyRegistry.of(providers);
  }
}
