// Boost.URL compiled from its sources into the fuzz build, with the fuzzer's instrumentation.
#include <boost/url/src.hpp>
